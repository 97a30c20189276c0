"""Models served elsewhere (Triton, KServe, Seldon MLServer, OpenVINO Model Server, TF Serving),
explained through their serving protocol: a black box that answers class probabilities.

- config: the models file's keys of a remote entry, and the `Endpoint` they describe.
- wire: normalised images to the endpoint's input tensor, and the checks of its answer.
- v2rest, v2grpc, v1rest: one request and its answer in each protocol.
- calls: retries with backoff, the rate cap and the requests in flight.
- runtime: `RemoteRuntime` (a forward pass over the network) and `RemoteModel` (what methods see).
"""
