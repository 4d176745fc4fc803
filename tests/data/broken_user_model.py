"""A user file that fails to import: trainperf must show this error, not its own."""

import torch  # noqa: F401

raise RuntimeError("the user's own bug on line 5")
