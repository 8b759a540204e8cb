"""The same wiring with the official Envoy image under testcontainers, where a Docker engine runs.

Skipped cleanly without one; the wheel-based tests beside this file are the path that always
runs. The container shares the host network so it reaches trimwire and the upstream on loopback.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from extproc.envoy_bootstrap import EnvoyOptions, render_yaml
from tests.upstream import RecordingUpstream

from .bodies import anthropic_conversation, assert_only_tool_output_compressed, dumps
from .stack import TEST_ID_HEADER, TrimwireProcess, http_get, loopback_envoy_options, recorded, wait_until

pytestmark = [pytest.mark.envoy, pytest.mark.docker]

IMAGE = os.environ.get("TRIMWIRE_ENVOY_IMAGE", "envoyproxy/envoy:v1.34-latest")


@pytest.fixture(scope="module")
def docker_engine() -> None:
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as exc:  # no client library, no socket, no daemon: all mean "no engine here"
        pytest.skip(f"no Docker engine reachable ({type(exc).__name__})")


@pytest.fixture(scope="module")
def container_envoy(docker_engine: None, trimwire: TrimwireProcess, upstream: RecordingUpstream,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvoyOptions]:
    from testcontainers.core.container import DockerContainer

    opts = loopback_envoy_options(trimwire.grpc_port, upstream.url)
    config = tmp_path_factory.mktemp("docker-envoy") / "envoy.yaml"
    config.write_text(render_yaml(opts))
    config.chmod(0o644)  # the image runs Envoy as an unprivileged user
    container = (DockerContainer(IMAGE)
                 .with_kwargs(network_mode="host")
                 .with_volume_mapping(str(config), "/etc/envoy/envoy.yaml", "ro")
                 .with_command(["-c", "/etc/envoy/envoy.yaml", "--log-level", "warning"]))
    container.start()
    try:
        admin = f"http://127.0.0.1:{opts.admin_port}/ready"
        wait_until(lambda: http_get(admin).status_code == 200, f"{IMAGE} /ready", timeout=120)
        yield opts
    finally:
        container.stop()


def test_official_image_compresses_through_trimwire(container_envoy: EnvoyOptions, upstream: RecordingUpstream) -> None:
    """The official Envoy image with the rendered config sends a compressed body upstream."""
    body, compressible = anthropic_conversation()
    test_id = uuid.uuid4().hex
    response = httpx.post(f"http://127.0.0.1:{container_envoy.listen_port}/v1/messages", content=dumps(body),
                          headers={"content-type": "application/json", TEST_ID_HEADER: test_id},
                          timeout=120, trust_env=False)
    assert response.status_code == 200
    assert response.headers["x-trimwire-outcome"] == "compressed"
    [received] = recorded(upstream, test_id)
    assert_only_tool_output_compressed(body, received.json(), compressible)
