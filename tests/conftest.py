"""Fixtures every test folder may use: the tiny model (tests/support/tiny.py) and the service stack
(tests/support/stack.py). Each folder's own conftest.py holds what only its tests need."""

pytest_plugins = ["tests.support.tiny", "tests.support.stack"]

import torch  # noqa: E402

torch.set_num_threads(2)  # CI's machine has two cores; in-process explanations use both
