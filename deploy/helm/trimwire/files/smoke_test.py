"""`helm test` for trimwire: the three gRPC health services answer SERVING through the Service,
and a small build log sent through the compression API comes back smaller (tokens_saved > 0).

Runs in the trimwire image (Python, grpcio, grpcio-health-checking and extproc are there):
python -c "<this file>" GRPC_TARGET API_URL. An empty API_URL (api_enabled: false) sends the log
through the gRPC trimwire.v1.Compressor service instead. Exits non-zero on the first failure.
"""
import json
import sys
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICES = ("", "envoy.service.ext_proc.v3.ExternalProcessor", "trimwire.v1.Compressor")


def build_log():
    """A tool call's output: a noisy, repetitive build log, the kind trimwire shrinks."""
    lines = [f"2026-01-01T00:00:{i % 60:02d}Z INFO worker-{i % 4} compiled module_{i}.o in {10 + i % 7}ms"
             for i in range(120)]
    lines.append("2026-01-01T00:02:00Z ERROR link failed: undefined reference to `trimwire_smoke'")
    return [
        {"role": "user", "content": "Why does the build fail?"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function",
         "function": {"name": "bash", "arguments": "{\"command\": \"make\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "\n".join(lines)},
        {"role": "assistant", "content": "The link step fails."},
        {"role": "user", "content": "Fix it."},
    ]


def check_health(target):
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in SERVICES:
            status = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=10).status
            print("health", repr(name), health_pb2.HealthCheckResponse.ServingStatus.Name(status))
            if status != health_pb2.HealthCheckResponse.SERVING:
                sys.exit(f"{name or 'server'} is not serving")


def saved_over_http(url):
    body = json.dumps({"model": "helm-test", "format": "openai", "messages": build_log()}).encode()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.load(response)
    return answer.get("tokens_saved", 0), answer.get("tokens_before", 0)


def saved_over_grpc(target):
    from extproc._proto import compressor_pb2

    call = compressor_pb2.CompressRequest(messages_json=json.dumps(build_log()).encode(),
                                          format="openai", model="helm-test")
    with grpc.insecure_channel(target) as channel:
        compress = channel.unary_unary("/trimwire.v1.Compressor/Compress",
                                       request_serializer=compressor_pb2.CompressRequest.SerializeToString,
                                       response_deserializer=compressor_pb2.CompressResponse.FromString)
        answer = compress(call, timeout=30)
    return answer.tokens_saved, answer.tokens_before


def main(target, api_url):
    check_health(target)
    saved, before = saved_over_http(api_url) if api_url else saved_over_grpc(target)
    print("compress", "tokens_before", before, "tokens_saved", saved)
    if saved <= 0:
        sys.exit("trimwire answered but compressed nothing: tokens_saved is not above 0")


main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
