"""sqlnet: train neural networks by backpropagation inside a relational database."""
__version__ = "0.1.0"


def __getattr__(name):
    """sqlnet.MLPClassifier and sqlnet.MLPRegressor, imported on first use (they need numpy)."""
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimators
        return getattr(estimators, name)
    raise AttributeError(f"module 'sqlnet' has no attribute {name!r}")
