"""pilkada-graph: the engine of a Desk Pilkada.

A GraphQL service over the vote count of every polling station (TPS), with detectors
registered through pluggy that flag anomalies for the desk to review.
"""

__version__ = "0.1.0"
