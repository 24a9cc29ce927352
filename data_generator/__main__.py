from data_generator.cli import main

raise SystemExit(main())
