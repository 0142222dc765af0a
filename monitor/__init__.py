"""banwatch: watch social accounts for suspensions and alert with proof."""

__version__ = "0.1.0"
