"""Settings: defaults < YAML file < env vars < explicit overrides, each value validated by name."""

from __future__ import annotations

import dataclasses

import pytest

from extproc import ConfigError, Settings, load_settings
from extproc.config import DEFAULT_PROTECTED_TOOLS


@pytest.fixture
def yaml_file(tmp_path):
    def write(text: str):
        path = tmp_path / "trimwire.yaml"
        path.write_text(text, encoding="utf-8")
        return path
    return write


class TestSettings:
    def test_no_sources_gives_defaults(self):
        """With no file, no env and no overrides the defaults apply."""
        settings = load_settings(env={})
        assert settings == Settings()
        assert (settings.grpc_address, settings.workers, settings.min_block_chars) == ("0.0.0.0:50051", -1, 200)
        assert settings.protected_tools == DEFAULT_PROTECTED_TOOLS and settings.extra == {}

    def test_env_vars_are_read_and_coerced(self):
        """TRIMWIRE_<FIELD> sets each field, converted to the field's type."""
        settings = load_settings(env={
            "TRIMWIRE_GRPC_ADDRESS": "127.0.0.1:6000", "TRIMWIRE_WORKERS": "3",
            "TRIMWIRE_DRAIN_GRACE_S": "2.5", "TRIMWIRE_SO_REUSEPORT": "yes",
            "TRIMWIRE_PROTECTED_TOOLS": " Read, Bash ,,Edit ", "PATH": "/usr/bin", "WORKERS": "9"})
        assert settings.grpc_address == "127.0.0.1:6000"
        assert (settings.workers, settings.drain_grace_s, settings.so_reuseport) == (3, 2.5, True)
        assert settings.protected_tools == ("Read", "Bash", "Edit")

    def test_yaml_then_env_then_overrides(self, yaml_file):
        """The YAML file beats defaults, env beats the file, explicit overrides beat env."""
        path = yaml_file("workers: 2\nmin_block_chars: 50\nlog_level: debug\n"
                         "protected_tools: [Read, apply_patch]\n")
        settings = load_settings(path, env={"TRIMWIRE_MIN_BLOCK_CHARS": "80", "TRIMWIRE_LOG_LEVEL": "error"},
                                 log_level="warning")
        assert (settings.workers, settings.min_block_chars, settings.log_level) == (2, 80, "warning")
        assert settings.protected_tools == ("Read", "apply_patch")

    def test_config_path_from_env(self, yaml_file):
        """TRIMWIRE_CONFIG names the YAML file when no path is passed."""
        path = yaml_file("user_label_mode: hash\n")
        assert load_settings(env={"TRIMWIRE_CONFIG": str(path)}).user_label_mode == "hash"

    def test_none_override_is_ignored(self):
        """An override of None (an unset CLI flag) leaves the lower layers in force."""
        assert load_settings(env={"TRIMWIRE_WORKERS": "4"}, workers=None).workers == 4

    def test_unknown_yaml_keys_land_in_extra(self, yaml_file):
        """Sections trimwire does not own are kept in extra, not rejected."""
        path = yaml_file("workers: 0\nsidecar:\n  model: small\n  threshold: 0.5\n")
        settings = load_settings(path, env={})
        assert settings.extra == {"sidecar": {"model": "small", "threshold": 0.5}}


class TestKompressSettings:
    def test_yaml_section_is_typed(self, yaml_file):
        """The kompress: section becomes KompressSettings, values coerced to their types."""
        path = yaml_file("kompress:\n  device: cpu\n  keep_ratio: '0.5'\n  max_batch: 8\n  required: yes\n")
        kompress = load_settings(path, env={}).kompress
        assert (kompress.device, kompress.keep_ratio, kompress.max_batch, kompress.required) == ("cpu", 0.5, 8, True)

    def test_env_overrides_the_file(self, yaml_file):
        """TRIMWIRE_KOMPRESS_<FIELD> beats the file, as for top-level settings."""
        path = yaml_file("kompress:\n  device: cuda\n")
        settings = load_settings(path, env={"TRIMWIRE_KOMPRESS_DEVICE": "cpu"})
        assert settings.kompress.device == "cpu"

    @pytest.mark.parametrize(("section", "message"), [
        ({"device": "tpu"}, "kompress.device"),
        ({"keep_ratio": 0}, "kompress.keep_ratio"),
        ({"threshold": 1.5}, "kompress.threshold"),
        ({"max_batch": 0}, "kompress.max_batch"),
        ({"model": "x"}, "unknown setting kompress.model"),
    ])
    def test_bad_values_name_the_setting(self, section, message):
        """A bad kompress value stops start-up with a message naming it."""
        with pytest.raises(ConfigError, match=message):
            load_settings(env={}, kompress=section)

    def test_section_must_be_a_mapping(self, yaml_file):
        """kompress: 3 is an error, not ignored."""
        with pytest.raises(ConfigError, match="kompress must be a mapping"):
            load_settings(yaml_file("kompress: 3\n"), env={})

    def test_empty_yaml_gives_defaults(self, yaml_file):
        """An empty file is an empty mapping."""
        assert load_settings(yaml_file(""), env={}) == Settings()

    @pytest.mark.parametrize(("raw", "expected"), [
        ("1", True), ("true", True), ("YES", True), (" on ", True),
        ("0", False), ("False", False), ("no", False), ("off", False),
    ])
    def test_bool_spellings(self, raw, expected):
        """The usual spellings of yes and no are accepted in any case."""
        assert load_settings(env={"TRIMWIRE_BYPASS_ENABLED": raw}).bypass_enabled is expected

    @pytest.mark.parametrize(("env", "message"), [
        ({"TRIMWIRE_BYPASS_ENABLED": "maybe"}, "TRIMWIRE_BYPASS_ENABLED: cannot read 'maybe' as bool"),
        ({"TRIMWIRE_WORKERS": "four"}, "TRIMWIRE_WORKERS: cannot read 'four' as int"),
        ({"TRIMWIRE_WORKERS": "2.5"}, "TRIMWIRE_WORKERS: cannot read '2.5' as int"),
        ({"TRIMWIRE_DRAIN_GRACE_S": "soon"}, "TRIMWIRE_DRAIN_GRACE_S: cannot read 'soon' as float"),
    ])
    def test_unreadable_env_values_name_the_variable(self, env, message):
        """A value that cannot be converted names the env var and the value."""
        with pytest.raises(ConfigError, match="^" + message.replace(".", r"\.") + "$"):
            load_settings(env=env)

    @pytest.mark.parametrize(("text", "message"), [
        ("workers: true\n", "workers: cannot read True as int"),
        ("min_block_chars: 2.7\n", "min_block_chars: cannot read 2.7 as int"),
        ("log_level: [info]\n", r"log_level: cannot read \['info'\] as str"),
        ("max_body_bytes: null\n", "max_body_bytes: cannot read None as int"),
    ])
    def test_unreadable_yaml_values_name_the_key(self, yaml_file, text, message):
        """A YAML value of the wrong type names the key."""
        with pytest.raises(ConfigError, match=message):
            load_settings(yaml_file(text), env={})

    @pytest.mark.parametrize(("env", "message"), [
        ({"TRIMWIRE_GRPC_ADDRESS": "50051"}, "grpc_address must look like HOST:PORT, got '50051'"),
        ({"TRIMWIRE_GRPC_ADDRESS": ":50051"}, "grpc_address must look like HOST:PORT"),
        ({"TRIMWIRE_GRPC_ADDRESS": "localhost:"}, "grpc_address must look like HOST:PORT"),
        ({"TRIMWIRE_METRICS_ADDRESS": "0.0.0.0:70000"}, "metrics_address must look like HOST:PORT"),
        ({"TRIMWIRE_MAX_BODY_BYTES": "0"}, "max_body_bytes must be > 0, got 0"),
        ({"TRIMWIRE_MAX_MESSAGE_BYTES": "-1"}, "max_message_bytes must be > 0, got -1"),
        ({"TRIMWIRE_MAX_DECODED_BYTES": "-4096"}, "max_decoded_bytes must be > 0"),
        ({"TRIMWIRE_REQUEST_DEADLINE_MS": "0"}, "request_deadline_ms must be > 0"),
        ({"TRIMWIRE_USER_LABEL_LIMIT": "0"}, "user_label_limit must be > 0"),
        ({"TRIMWIRE_MIN_BLOCK_CHARS": "-1"}, "min_block_chars must be >= 0, got -1"),
        ({"TRIMWIRE_WORKERS": "-2"}, "workers must be -1 .auto., 0 .in-process. or more, got -2"),
        ({"TRIMWIRE_DRAIN_GRACE_S": "-0.5"}, "drain_grace_s must be >= 0"),
        ({"TRIMWIRE_USER_LABEL_MODE": "sha256"}, "user_label_mode must be one of .*'sha256'"),
        ({"TRIMWIRE_LOG_LEVEL": "trace"}, "log_level must be one of .*'trace'"),
        ({"TRIMWIRE_MODE": "tokens"}, "mode must be one of .*'tokens'"),
        ({"TRIMWIRE_PROTECT_RECENT_TOOL_RESULTS": "-1"}, "protect_recent_tool_results must be >= 0, got -1"),
        ({"TRIMWIRE_HEADER_PREFIX": "X-Trimwire-"}, "header_prefix must be a lower-case header name"),
        ({"TRIMWIRE_BYPASS_HEADER": ""}, "bypass_header must be a lower-case header name, got ''"),
        ({"TRIMWIRE_USER_HEADER": "x user"}, "user_header must be a lower-case header name"),
        ({"TRIMWIRE_USER_HEADER": "x-user:"}, "user_header must be a lower-case header name"),
        ({"TRIMWIRE_MAX_BODY_BYTES": "2048", "TRIMWIRE_MAX_MESSAGE_BYTES": "1024"},
         "max_body_bytes must not exceed max_message_bytes"),
    ])
    def test_invalid_values_name_the_field(self, env, message):
        """Every validation failure stops start-up with a message naming the field."""
        with pytest.raises(ConfigError, match=message):
            load_settings(env=env)

    def test_unknown_override_is_rejected(self):
        """A typo in a programmatic override is an error, not silently ignored."""
        with pytest.raises(ConfigError, match="unknown setting 'wokers'"):
            load_settings(env={}, wokers=2)

    @pytest.mark.parametrize(("text", "message"), [
        ("- workers\n- 2\n", "top level must be a mapping"),
        ("workers: [\n", "trimwire.yaml"),
    ])
    def test_bad_yaml_file_names_the_file(self, yaml_file, text, message):
        """A file that is not a YAML mapping stops start-up naming the file."""
        with pytest.raises(ConfigError, match=message):
            load_settings(yaml_file(text), env={})

    def test_missing_file_is_a_config_error(self, tmp_path):
        """A config path that does not exist is reported, not a raw OSError."""
        with pytest.raises(ConfigError, match="absent.yaml"):
            load_settings(tmp_path / "absent.yaml", env={})

    def test_settings_are_frozen_and_keyword_only(self):
        """Settings cannot be changed in place or built positionally."""
        settings = Settings()
        with pytest.raises(dataclasses.FrozenInstanceError):
            settings.workers = 4  # type: ignore[misc]
        with pytest.raises(TypeError):
            Settings("0.0.0.0:1")  # type: ignore[misc]

    def test_replace_validates(self):
        """replace builds a new validated object and leaves the old one alone."""
        settings = Settings()
        assert settings.replace(workers=0).workers == 0 and settings.workers == -1
        with pytest.raises(ConfigError, match="min_block_chars"):
            settings.replace(min_block_chars=-5)


class TestBypassUsers:
    """Settings.bypass_allowed: the one rule the ext_proc path and both compression APIs apply."""

    def test_everyone_may_bypass_when_no_users_are_listed(self):
        """bypass_enabled with an empty bypass_users: any user, or none, may bypass."""
        settings = Settings()
        assert settings.bypass_users == ()
        assert all(settings.bypass_allowed(user) for user in ("alice", "", None, "zoë"))

    def test_nobody_may_bypass_when_bypass_is_disabled(self):
        """bypass_enabled false wins over a list that names the user."""
        settings = Settings(bypass_enabled=False, bypass_users=("alice",))
        assert not settings.bypass_allowed("alice")

    @pytest.mark.parametrize(("user", "allowed"), [
        ("alice", True), ("ci-bot@example.com", True), (" alice ", True),
        ("bob", False), ("Alice", False), ("", False), (None, False), ("__unknown__", False),
        ("ci bot", False),             # sanitises to ci_bot, which is listed: a different user
        ("c" * 64 + "d", False),       # sanitising cuts it to the listed 64-character name
    ])
    def test_only_listed_users_may_bypass(self, user, allowed):
        """With users listed, only a user named exactly as its sanitised label, and listed, may bypass."""
        settings = Settings(bypass_users=("alice", "ci-bot@example.com", "ci_bot", "c" * 64))
        assert settings.bypass_allowed(user) is allowed

    def test_users_come_from_env_and_yaml(self, yaml_file):
        """A comma-separated env var or a YAML list."""
        assert load_settings(env={"TRIMWIRE_BYPASS_USERS": "alice, ci-bot"}).bypass_users == ("alice", "ci-bot")
        path = yaml_file("bypass_users: [alice, bob]\n")
        assert load_settings(path, env={}).bypass_users == ("alice", "bob")

    @pytest.mark.parametrize("user", ["zoë", "ci bot", "x" * 65, "__unknown__"])
    def test_a_name_that_could_never_match_stops_start_up(self, user):
        """A listed name that sanitising would change (or the no-user label) is a config error."""
        with pytest.raises(ConfigError, match="bypass_users: .* can never match"):
            load_settings(env={}, bypass_users=[user])


class TestWorkerMemoryTooLow:
    """A worker_memory_mb no worker can start under is a configuration error (exit 2), not a crash."""

    def test_below_the_floor_is_refused_at_load(self, monkeypatch, capsys):
        from extproc.cli import main

        monkeypatch.setenv("TRIMWIRE_WORKER_MEMORY_MB", "100")
        assert main(["serve"]) == 2
        err = capsys.readouterr().err
        assert "configuration error" in err and "worker_memory_mb" in err and "Traceback" not in err

    def test_a_worker_that_cannot_load_under_it_is_a_config_error(self):
        from extproc.workers import WorkerPool
        from tests.grpc.faulty import hungry_factory

        workers = WorkerPool(Settings(workers=1, worker_memory_mb=300), factory=hungry_factory)
        try:
            with pytest.raises(ConfigError, match="worker_memory_mb 300 is too low"):
                workers.warm_up_blocking()
        finally:
            workers.close()
