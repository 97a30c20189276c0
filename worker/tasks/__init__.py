"""The functions RQ runs, named by import path in jobs.queue: explain, reconstruct, predict."""
