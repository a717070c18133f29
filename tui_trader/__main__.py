from tui_trader.cli import main

raise SystemExit(main())
