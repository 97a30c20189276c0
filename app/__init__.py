"""The HTTP side of the service: submit images, follow jobs, fetch saliency artifacts."""
