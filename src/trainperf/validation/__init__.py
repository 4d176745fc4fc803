"""Validation of the distributed model against published measurements: the CSV interface and each source's
software settings (published.py), predicting every row and the error statistics (validate.py), and the fit
of the model's few shared parameters on the fit split (fit.py)."""
