"""Architecture studies: zoo LLMs at their searched best layouts on a grid of what-if hardware, with the
elasticity of each job's step time to each knob and what limits it (`trainperf study`), and the results
store every study, fleet and optimize run can write to (`trainperf results`)."""

from trainperf.study.api import StudyResult, run_study
from trainperf.study.knobs import Knob, parse_vary, points

__all__ = ["Knob", "StudyResult", "parse_vary", "points", "run_study"]
