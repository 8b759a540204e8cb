"""A server that looks healthy and answers the compression APIs without compressing: gRPC
health SERVING for all three names, trimwire.v1.Compressor and POST /v1/compress echoing the
messages with nothing saved. What `helm test` must fail against.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from extproc._proto import compressor_pb2, compressor_pb2_grpc

__all__ = ["NonCompressingServer"]

_NAMES = ("", "envoy.service.ext_proc.v3.ExternalProcessor", "trimwire.v1.Compressor")


class _EchoCompressor(compressor_pb2_grpc.CompressorServicer):
    def Compress(self, request: Any, context: Any) -> Any:
        return compressor_pb2.CompressResponse(messages_json=request.messages_json, tokens_before=100,
                                               tokens_after=100, tokens_saved=0, compression_ratio=1.0,
                                               outcome="unchanged")


class _EchoApi(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        call = json.loads(self.rfile.read(int(self.headers["content-length"])))
        body = json.dumps({"messages": call["messages"], "tokens_before": 100, "tokens_after": 100,
                           "tokens_saved": 0, "compression_ratio": 1.0, "transforms_applied": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class NonCompressingServer:
    def __init__(self) -> None:
        self.grpc = grpc.server(ThreadPoolExecutor(max_workers=4))
        servicer = health.HealthServicer()
        for name in _NAMES:
            servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(servicer, self.grpc)
        compressor_pb2_grpc.add_CompressorServicer_to_server(_EchoCompressor(), self.grpc)
        self.grpc_port = self.grpc.add_insecure_port("127.0.0.1:0")
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _EchoApi)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}/v1/compress"

    def __enter__(self) -> NonCompressingServer:
        self.grpc.start()
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.grpc.stop(0)
