"""What the library offers, described without torch: methods and their options, job metrics,
reconstruction options, how a target class is named, and what a model looks like from outside.

The API validates every request against these (it never imports torch); the worker runs what
they describe. Importing this package loads pydantic, never torch.
"""
