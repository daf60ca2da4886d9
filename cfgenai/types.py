"""Types that appear in cfgenai's signatures and answers: the keyword arguments of
``cfgenai.request_options`` and the DLP findings in ``cfgenai.GatewayInfo``."""

from ._options import RequestOptions
from ._responses import DlpFinding, DlpInfo

__all__ = ["DlpFinding", "DlpInfo", "RequestOptions"]
