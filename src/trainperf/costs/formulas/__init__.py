"""Formula modules; each registers its ops on import."""

from trainperf.costs.formulas import (  # noqa: F401
    attention,
    conv,
    copy,
    elementwise,
    embedding,
    free,
    linear_attention,
    masked,
    matmul,
    norm,
    optimizer,
    reduction,
    sampling,
    ssm,
)
