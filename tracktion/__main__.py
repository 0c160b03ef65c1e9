from tracktion.cli import main

raise SystemExit(main())
