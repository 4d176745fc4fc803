"""trainperf: training performance engineering for deep learning.

Analyze profiler traces, predict a training step on any GPU or cluster, and rank the fixes.
Heavy libraries (torch, transformers, diffusers, plotly) are imported inside the functions that need them,
so ``import trainperf`` and ``trainperf --help`` stay fast.
"""

__version__ = "0.1.0"
