"""The Open Inference Protocol's gRPC messages this client uses, built at import from the field
numbers of the protocol's specification (package `inference`), so no generated code or protoc is
needed. Fields this client never reads (the `parameters` maps) are left out: protobuf skips
unknown fields when it parses an answer."""
from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
STRING, BOOL, INT64, BYTES, MESSAGE = _F.TYPE_STRING, _F.TYPE_BOOL, _F.TYPE_INT64, _F.TYPE_BYTES, _F.TYPE_MESSAGE
ONE, MANY = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# message -> (field, number, type, label, message type of a MESSAGE field)
_MESSAGES: dict[str, list[tuple]] = {
    "ModelReadyRequest": [("name", 1, STRING, ONE), ("version", 2, STRING, ONE)],
    "ModelReadyResponse": [("ready", 1, BOOL, ONE)],
    "ModelMetadataRequest": [("name", 1, STRING, ONE), ("version", 2, STRING, ONE)],
    "TensorMetadata": [("name", 1, STRING, ONE), ("datatype", 2, STRING, ONE), ("shape", 3, INT64, MANY)],
    "ModelMetadataResponse": [("name", 1, STRING, ONE), ("versions", 2, STRING, MANY),
                              ("platform", 3, STRING, ONE), ("inputs", 4, MESSAGE, MANY, "TensorMetadata"),
                              ("outputs", 5, MESSAGE, MANY, "TensorMetadata")],
    "InferTensorContents": [("bool_contents", 1, BOOL, MANY), ("int_contents", 2, _F.TYPE_INT32, MANY),
                            ("int64_contents", 3, INT64, MANY), ("uint_contents", 4, _F.TYPE_UINT32, MANY),
                            ("uint64_contents", 5, _F.TYPE_UINT64, MANY), ("fp32_contents", 6, _F.TYPE_FLOAT, MANY),
                            ("fp64_contents", 7, _F.TYPE_DOUBLE, MANY), ("bytes_contents", 8, BYTES, MANY)],
    "InferInputTensor": [("name", 1, STRING, ONE), ("datatype", 2, STRING, ONE), ("shape", 3, INT64, MANY)],
    "InferRequestedOutputTensor": [("name", 1, STRING, ONE)],
    "ModelInferRequest": [("model_name", 1, STRING, ONE), ("model_version", 2, STRING, ONE), ("id", 3, STRING, ONE),
                          ("inputs", 5, MESSAGE, MANY, "InferInputTensor"),
                          ("outputs", 6, MESSAGE, MANY, "InferRequestedOutputTensor"),
                          ("raw_input_contents", 7, BYTES, MANY)],
    "InferOutputTensor": [("name", 1, STRING, ONE), ("datatype", 2, STRING, ONE), ("shape", 3, INT64, MANY),
                          ("contents", 5, MESSAGE, ONE, "InferTensorContents")],
    "ModelInferResponse": [("model_name", 1, STRING, ONE), ("model_version", 2, STRING, ONE), ("id", 3, STRING, ONE),
                           ("outputs", 5, MESSAGE, MANY, "InferOutputTensor"),
                           ("raw_output_contents", 6, BYTES, MANY)],
}
SERVICE = "/inference.GRPCInferenceService/"
# InferTensorContents field of each datatype, for answers without raw contents
CONTENTS = {"FP32": "fp32_contents", "FP64": "fp64_contents", "INT8": "int_contents", "INT16": "int_contents",
            "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
            "UINT32": "uint_contents", "UINT64": "uint64_contents"}


def _build() -> dict[str, type]:
    # Own file name and pool: no clash with another copy of the protocol (tritonclient, kserve).
    proto = descriptor_pb2.FileDescriptorProto(name="saliency_open_inference.proto", package="inference",
                                               syntax="proto3")
    for message, fields in _MESSAGES.items():
        m = proto.message_type.add(name=message)
        for name, number, kind, label, *ref in fields:
            f = m.field.add(name=name, number=number, type=kind, label=label)
            if ref:
                f.type_name = f".inference.{ref[0]}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"inference.{name}"))
            for name in _MESSAGES}


M = _build()
