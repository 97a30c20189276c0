"""The queue side of the service: RQ workers that run explanations next to a loaded model."""
