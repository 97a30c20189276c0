"""The `saliency` command: explain images with the library, list models, run the benchmarks,
serve the whole stack on one machine, and talk to a running service. It sits above the library
(saliency/), the service (jobs/, app/, worker/) and the client (saliency_client); none of those
imports it."""
