"""Real training steps on the local device (CPU or CUDA), timed and recorded with torch.profiler."""

from trainperf.profile.run import ProfileConfig, ProfileResult, profile_built, profile_workload

__all__ = ["ProfileConfig", "ProfileResult", "profile_built", "profile_workload"]
