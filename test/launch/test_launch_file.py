"""launch/tracker.launch.py: `launch`/`launch_ros` have no PyPI wheels, so the file is checked
statically against what the node and setup.py provide (it runs on a robot with apt ROS)."""
from __future__ import annotations

import ast
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
LAUNCH = REPO / "launch" / "tracker.launch.py"


def _calls(tree: ast.AST, name: str):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, "id", getattr(n.func, "attr", None)) == name]


def test_launch_file_declares_the_documented_arguments():
    tree = ast.parse(LAUNCH.read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "generate_launch_description"
               for n in tree.body)
    declared = {c.args[0].value for c in _calls(tree, "DeclareLaunchArgument")}
    assert {"tracker", "tracker_params", "params_file", "rgb_topic", "thermal_topic",
            "device", "use_alignment", "calibration_file", "modalities"} <= declared
    used = {c.args[0].value for c in _calls(tree, "LaunchConfiguration")}
    assert used <= declared, f"LaunchConfiguration of undeclared arguments: {used - declared}"


def test_launch_file_starts_the_installed_executable_with_the_node_topics():
    tree = ast.parse(LAUNCH.read_text())
    node = _calls(tree, "Node")[0]
    keywords = {k.arg: k.value for k in node.keywords}
    assert keywords["package"].value == "rgbt_tracking"
    executable = keywords["executable"].value
    setup = (REPO / "setup.py").read_text()
    assert f"{executable} = rgbt_tracking." in setup
    remapped = {t.elts[0].value for t in keywords["remappings"].elts}
    assert remapped == {"rgb/image", "thermal/image"}
    node_name = keywords["name"].value
    params = yaml.safe_load((REPO / "config" / "tracker.yaml").read_text())
    assert node_name in params and "ros__parameters" in params[node_name]


def test_parameter_file_matches_the_node_declarations():
    from rgbt_tracking.ros import alignment_node, tracker_node

    params = yaml.safe_load((REPO / "config" / "tracker.yaml").read_text())
    for node, module in (("tracker_node", tracker_node), ("alignment_node", alignment_node)):
        source = Path(module.__file__).read_text()
        for name in params[node]["ros__parameters"]:
            assert f'"{name}"' in source, f"config/tracker.yaml sets undeclared {node}.{name}"


def test_alignment_node_is_launched_only_with_use_alignment():
    tree = ast.parse(LAUNCH.read_text())
    executables = {}
    for node in _calls(tree, "Node"):
        keywords = {k.arg: k.value for k in node.keywords}
        condition = keywords["condition"].func.id
        executables.setdefault(keywords["executable"].value, set()).add(condition)
    assert executables["alignment_node"] == {"IfCondition"}
    # Exactly one tracker_node runs either way: on the raw or on the aligned thermal topic.
    assert executables["tracker_node"] == {"IfCondition", "UnlessCondition"}
    setup = (REPO / "setup.py").read_text()
    assert "alignment_node = rgbt_tracking.ros.alignment_node:main" in setup


def test_modalities_argument_reaches_the_tracker_node_parameter():
    from rgbt_tracking.ros.tracker_node import MODALITY_MODES

    tree = ast.parse(LAUNCH.read_text())
    argument = next(c for c in _calls(tree, "DeclareLaunchArgument")
                    if c.args[0].value == "modalities")
    default = {k.arg: k.value.value for k in argument.keywords}["default_value"]
    assert default in MODALITY_MODES
    description = {k.arg: k.value for k in argument.keywords}["description"]
    text = "".join(part.value for part in ast.walk(description)
                   if isinstance(part, ast.Constant) and isinstance(part.value, str))
    assert all(mode in text for mode in MODALITY_MODES)
    trackers = [node for node in _calls(tree, "Node")
                if {k.arg: k.value for k in node.keywords}["executable"].value == "tracker_node"]
    assert trackers
    for node in trackers:
        parameters = {k.arg: k.value for k in node.keywords}["parameters"]
        if isinstance(parameters, ast.Name):        # a list shared by both tracker nodes
            parameters = next(a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
                              and getattr(a.targets[0], "id", None) == parameters.id)
        dicts = [ast.unparse(d) for d in ast.walk(parameters) if isinstance(d, ast.Dict)]
        assert any("'modalities': LaunchConfiguration('modalities')" in d for d in dicts)
