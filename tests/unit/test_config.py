"""Rig config: validation, and errors that name file, line and key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from syncpose import config as config_module
from syncpose.app.cli import main
from syncpose.app.commands.rig import demo_config_text
from syncpose.configfile import ConfigError, load_config, parse_config
from tests.conftest import shared_file

GOOD = """\
rig:
  name: test
  fps: 30
cameras:
  - id: cam0
    source:
      type: synthetic
      clock_offset_ms: 5
  - id: cam1
    host: pi
    source:
      type: opencv
      device: rtsp://10.0.0.2/stream
  - id: cam2
    source: {type: video, path: /tmp/x.mp4, frame_step: 2, start_frame: 1}
hosts:
  pi: {clock_offset_ms: -3.5}
aligner:
  max_wait_ms: 12
"""


def problems_of(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, source="rig.yaml")
    return [(p.line, p.key, p.message) for p in err.value.problems]


def test_good_config_and_derived_values() -> None:
    cfg = parse_config(GOOD)
    assert cfg.camera_ids == ["cam0", "cam1", "cam2"]
    assert cfg.camera_endpoint(1) == "tcp://127.0.0.1:5552"
    assert cfg.aligner_endpoint() == "tcp://127.0.0.1:5550"
    assert cfg.tolerance_ns() == 33_333_333 // 2
    assert cfg.host_offsets_ns() == {"pi": -3_500_000}


def test_demo_config_is_valid() -> None:
    cfg = parse_config(demo_config_text())
    assert len(cfg.cameras) == 4 and cfg.rig.fps == 30


def test_unknown_key_reports_its_line() -> None:
    text = GOOD.replace(
        "      clock_offset_ms: 5\n", "      clock_offset_ms: 5\n      jiter_ms: 1\n"
    )
    assert problems_of(text) == [
        (9, "cameras[0].source.jiter_ms", "unknown key (not a field of this section)")
    ]


def test_wrong_type_inside_a_union_reports_its_line() -> None:
    text = GOOD.replace("clock_offset_ms: 5", "clock_offset_ms: soon")
    ((line, key, msg),) = problems_of(text)
    assert (line, key) == (8, "cameras[0].source.clock_offset_ms")
    assert "number" in msg


def test_missing_key_points_at_its_parent() -> None:
    text = GOOD.replace("      device: rtsp://10.0.0.2/stream\n", "")
    assert problems_of(text) == [(11, "cameras[1].source.device", "required key is missing")]


def test_unknown_source_type() -> None:
    ((line, key, msg),) = problems_of(GOOD.replace("type: opencv", "type: webcam"))
    assert line == 11 and key == "cameras[1].source" and "opencv" in msg


def test_duplicate_yaml_key() -> None:
    text = GOOD.replace("  max_wait_ms: 12\n", "  max_wait_ms: 12\n  max_wait_ms: 13\n")
    ((line, key, msg),) = problems_of(text)
    assert line == 20 and key == "aligner.max_wait_ms" and "line 19" in msg


def test_cross_field_problems_are_located() -> None:
    text = GOOD.replace("id: cam2", "id: cam0").replace("host: pi", "host: nas")
    assert problems_of(text) == [
        (10, "cameras[1].host", "host 'nas' is not in 'hosts'"),
        (14, "cameras[2].id", "duplicate camera id 'cam0'"),
    ]


def test_tolerance_above_half_a_period_is_refused() -> None:
    ((line, key, msg),) = problems_of(GOOD + "  tolerance_ms: 20\n")
    assert (line, key) == (20, "aligner.tolerance_ms") and "half a frame period" in msg


def test_yaml_syntax_error_has_a_line() -> None:
    ((line, key, _),) = problems_of("rig:\n  fps: [30\ncameras: []\n")
    assert key == "(syntax)" and line == 3


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    assert problems_of("") == [(1, "(top level)", "the file is empty")]
    with pytest.raises(ConfigError, match="No such file"):
        load_config(tmp_path / "nope.yaml")


def test_programmatic_construction_runs_the_same_checks() -> None:
    cam = {"id": "a", "source": {"type": "opencv", "device": 0}}
    with pytest.raises(ValueError, match="duplicate camera id"):
        config_module.RigConfig.model_validate({"rig": {"fps": 30}, "cameras": [cam, cam]})


def _models(module: object) -> list[type[BaseModel]]:
    return [
        v
        for v in vars(module).values()
        if isinstance(v, type) and issubclass(v, BaseModel) and v.__module__ == module.__name__  # type: ignore[attr-defined]
    ]


def test_every_field_is_described() -> None:
    models = _models(config_module)
    assert len(models) >= 9
    undescribed = [
        f"{m.__name__}.{name}"
        for m in models
        for name, field in m.model_fields.items()
        if not field.description
    ]
    assert undescribed == []


def test_validate_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "rig.yaml"
    bad.write_text(GOOD.replace("  max_wait_ms: 12\n", "  max_wait: 12\n"))
    assert main(["validate-config", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:19: aligner.max_wait: unknown key" in out
    good = tmp_path / "good.yaml"
    (tmp_path / "x.mp4").write_bytes(b"")  # the files a config names must be there
    good.write_text(GOOD.replace("/tmp/x.mp4", str(tmp_path / "x.mp4")))
    assert main(["validate-config", str(good)]) == 0
    assert "OK" in capsys.readouterr().out


def test_validate_config_console_script(tmp_path: Path) -> None:
    """The installed command itself: exit status 1 and the line number on stdout."""
    bad = tmp_path / "rig.yaml"
    bad.write_text(GOOD.replace("  name: test\n", "  name: test\n  fsp: 30\n"))
    proc = subprocess.run(
        [sys.executable, "-m", "syncpose", "validate-config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert f"{bad}:3: rig.fsp: unknown key" in proc.stdout


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "examples").glob("*.yaml")))
def test_example_rigs_are_valid(path: Path) -> None:
    assert load_config(path, check_files=False).cameras
    if "shared/data" in path.read_text():
        shared_file("video/pose2sim_single")  # its files are the shared recording
    assert load_config(path).cameras


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "rigs").mkdir()
    path = tmp_path / "rigs" / "rig.yaml"
    path.write_text(GOOD.replace("path: /tmp/x.mp4", "path: videos/c2.mp4"))
    cfg = load_config(path, check_files=False)
    source = cfg.camera("cam2").source
    assert isinstance(source, config_module.VideoSourceConfig)
    assert source.path == tmp_path / "rigs" / "videos" / "c2.mp4"


def test_inference_section_detectors_and_paths(tmp_path: Path) -> None:
    """The inference section: detector chosen by type, paths relative to the file, defaults
    that follow the cameras, and a clear error for a synthetic detector on real cameras."""
    from syncpose.config import (
        MediaPipeDetectorConfig,
        OnnxDetectorConfig,
        SyntheticDetectorConfig,
    )

    real = tmp_path / "real.yaml"
    real.write_text(
        "rig: {fps: 30}\n"
        "cameras:\n"
        "  - {id: a, source: {type: opencv, device: 0}}\n"
        "  - {id: b, source: {type: opencv, device: 1}}\n"
        "inference:\n"
        "  calibration: calib/rig.toml\n"
        "  detector: {type: onnx, model: models/rtm.onnx, output: simcc,\n"
        "             person_detector: {model: models/yolo.onnx, output: yolov8}}\n"
        "  denoiser: null\n"
    )
    cfg = load_config(real, check_files=False)
    assert cfg.inference.calibration == tmp_path / "calib" / "rig.toml"
    det = cfg.detector()
    assert isinstance(det, OnnxDetectorConfig) and det.model == tmp_path / "models" / "rtm.onnx"
    assert det.person_detector is not None
    assert det.person_detector.model == tmp_path / "models" / "yolo.onnx"
    with pytest.raises(ConfigError, match=r"person_detector\.model.*no such file"):
        load_config(real)
    assert cfg.inference.denoiser is None and cfg.poses_possible
    assert cfg.inference_endpoint() == "tcp://127.0.0.1:5554"

    no_calib = parse_config(
        "rig: {fps: 30}\ncameras:\n  - {id: a, source: {type: opencv, device: 0}}\n"
    )
    assert isinstance(no_calib.detector(), MediaPipeDetectorConfig)
    assert not no_calib.poses_possible  # captures and aligns; no poses without a calibration
    synthetic = parse_config(
        "rig: {fps: 30}\ncameras:\n  - {id: a, source: {type: synthetic}}\n"
        "  - {id: b, source: {type: synthetic}}\n"
    )
    assert isinstance(synthetic.detector(), SyntheticDetectorConfig) and synthetic.poses_possible

    with pytest.raises(ConfigError) as err:
        parse_config(
            "rig: {fps: 30}\ncameras:\n  - {id: a, source: {type: opencv, device: 0}}\n"
            "inference:\n  detector: {type: synthetic}\n",
            source="bad.yaml",
        )
    assert "bad.yaml:5" in str(err.value) and "needs synthetic cameras" in str(err.value)


def test_ipc_transport_derives_unix_socket_endpoints(tmp_path: Path) -> None:
    cfg = parse_config(
        "rig: {name: lab, fps: 30}\n"
        "cameras:\n  - {id: a, source: {type: synthetic}}\n  - {id: b, source: {type: synthetic}}\n"
        f"bus: {{transport: ipc, ipc_dir: {tmp_path}, base_port: 6000}}\n"
    )
    assert cfg.aligner_endpoint() == f"ipc://{tmp_path}/lab-6000"
    assert cfg.camera_endpoint(1) == f"ipc://{tmp_path}/lab-6002"
    assert cfg.inference_endpoint() == f"ipc://{tmp_path}/lab-6004"


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "not a text file"),
        (b"rig: {name: a\x00b, fps: 30}\n", ":1: (syntax): character '\\x00' is not allowed"),
        (b"a: &a [*a]\n", "anchors and aliases"),
        (  # the billion-laughs shape: each level ten aliases of the one before
            (
                "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                + "".join(
                    f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n"
                    for p, k in zip("abcdefghi", "bcdefghij", strict=True)
                )
            ).encode(),
            "anchors and aliases",
        ),
        (b"[" * 50_000 + b"]" * 50_000, "nested too deeply"),
    ],
)
def test_hostile_config_files_give_a_line_and_exit_1_quickly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    path = tmp_path / "rig.yaml"
    path.write_bytes(content)
    assert main(["validate-config", str(path)]) == 1
    out = capsys.readouterr().out
    assert expected in out and out.startswith(str(path)), out


def test_validate_config_checks_the_files_ports_and_sizes_a_rig_needs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What used to pass validation and then crash-loop a worker: a calibration that is not
    there, the server on a bus port, an image size no camera has."""
    path = tmp_path / "rig.yaml"
    path.write_text(
        "rig: {name: r, fps: 30}\ncameras:\n"
        "  - {id: a, source: {type: video, path: gone.mp4}}\n"
        "  - {id: b, source: {type: synthetic, width: 1000000}}\n"
        "inference: {calibration: calib/none.toml}\n"
        "bus: {base_port: 6000}\nserver: {port: 6002}\n"
    )
    assert main(["validate-config", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:4: cameras[1].source.width: Input should be less than or equal to 16384" in out
    path.write_text(path.read_text().replace("width: 1000000", "width: 640"))
    assert main(["validate-config", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:3: cameras[0].source.path: no such file: {tmp_path / 'gone.mp4'}" in out
    assert f"{path}:5: inference.calibration: no such file: {tmp_path / 'calib/none.toml'}" in out
    assert f"{path}:7: server.port: port 6002 is one of the bus's ports (6000-6004" in out


def test_a_server_open_to_the_network_needs_a_token_or_an_explicit_yes() -> None:
    base = "rig: {fps: 30}\ncameras:\n  - {id: a, source: {type: synthetic}}\n"
    with pytest.raises(ConfigError, match="reachable from the network"):
        parse_config(base + "server: {host: 0.0.0.0}\n")
    assert parse_config(base + "server: {host: 0.0.0.0, token: s3cret-token}\n").server.token
    assert parse_config(base + "server: {host: 0.0.0.0, open_without_token: true}\n")
    assert parse_config(base + "server: {host: 127.0.0.1}\n")
