"""`python -m saliency_cli`: the same as the `saliency` command."""
import sys

from saliency_cli.main import main

sys.exit(main())
