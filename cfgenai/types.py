"""Types that appear in cfgenai's signatures and answers: the keyword arguments of
:func:`cfgenai.request_options` and the DLP findings in :class:`cfgenai.GatewayInfo`."""

from ._options import RequestOptions
from ._responses import DlpFinding, DlpInfo

__all__ = ["DlpFinding", "DlpInfo", "RequestOptions"]
