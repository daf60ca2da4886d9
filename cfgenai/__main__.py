from cfgenai.cli import main

raise SystemExit(main())
