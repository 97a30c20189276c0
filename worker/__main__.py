"""`python -m worker`: one worker process on the configured queue."""
from worker.main import main

raise SystemExit(main())
