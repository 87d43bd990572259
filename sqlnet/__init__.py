"""sqlnet: train neural networks by backpropagation inside a relational database."""
__version__ = "0.1.0"
