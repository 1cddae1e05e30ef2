"""Launch the RGB-T tracker node.

    ros2 launch rgbt_tracking tracker.launch.py \
        rgb_topic:=/camera/color/image_raw thermal_topic:=/thermal/image \
        tracker:=dcf tracker_params:="{fusion: response}"

A robot with one camera runs ``modalities:=thermal`` (no RGB subscription; outputs in the
thermal camera's frame, e.g. ``tracker:=mmnet``) or ``modalities:=rgb``.

With ``use_alignment:=true calibration_file:=thermal_to_rgb.yaml`` the alignment node
warps ``thermal_topic`` into the RGB camera's geometry on ``<thermal_topic>_aligned`` and
the tracker reads that.

Without ROS launch (PyPI environment): ``rgbt-track launch`` hosts the same graph, with the
same parameter file and remappings, in one process (``--alignment CALIBRATION.yaml``).
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue


def generate_launch_description() -> LaunchDescription:
    share = get_package_share_directory("rgbt_tracking")
    arguments = [
        DeclareLaunchArgument("tracker", default_value="dcf",
                              description="tracker name (rgbt_tracking.list_trackers())"),
        # Launch arguments take precedence over the parameter file.
        DeclareLaunchArgument("tracker_params", default_value="{}",
                              description="YAML mapping of preset overrides"),
        DeclareLaunchArgument("params_file",
                              default_value=os.path.join(share, "config", "tracker.yaml"),
                              description="ROS 2 parameter file of the nodes"),
        DeclareLaunchArgument("rgb_topic", default_value="/camera/rgb/image",
                              description="RGB image topic (sensor_msgs/Image)"),
        DeclareLaunchArgument("thermal_topic", default_value="/camera/thermal/image",
                              description="thermal image topic, in the RGB camera's geometry"),
        DeclareLaunchArgument("device", default_value="cpu", description="cpu | cuda"),
        DeclareLaunchArgument("modalities", default_value="rgb_thermal",
                              description="rgb_thermal | rgb | thermal (one-camera robots; "
                                          "the unused topic is not subscribed)"),
        DeclareLaunchArgument("use_alignment", default_value="false",
                              description="warp thermal into the RGB geometry first"),
        DeclareLaunchArgument("calibration_file", default_value="",
                              description="YAML from `rgbt-track calibrate` (use_alignment)"),
    ]
    # Camera-sized images between processes need Fast DDS's large-data transports (TCP +
    # shared memory); keep a value the user already set.
    transport = SetEnvironmentVariable(
        "FASTDDS_BUILTIN_TRANSPORTS",
        EnvironmentVariable("FASTDDS_BUILTIN_TRANSPORTS", default_value="LARGE_DATA"))
    tracker_parameters = [LaunchConfiguration("params_file"), {
        "tracker": LaunchConfiguration("tracker"),
        # Kept a string: launch_ros would otherwise parse "{...}" into a mapping.
        "tracker_params": ParameterValue(LaunchConfiguration("tracker_params"),
                                         value_type=str),
        "device": LaunchConfiguration("device"),
        "modalities": LaunchConfiguration("modalities"),
    }]
    aligned_topic = [LaunchConfiguration("thermal_topic"), "_aligned"]
    tracker = Node(
        package="rgbt_tracking", executable="tracker_node", name="tracker_node",
        output="screen", parameters=tracker_parameters,
        remappings=[("rgb/image", LaunchConfiguration("rgb_topic")),
                    ("thermal/image", LaunchConfiguration("thermal_topic"))],
        condition=UnlessCondition(LaunchConfiguration("use_alignment")),
    )
    tracker_on_aligned = Node(
        package="rgbt_tracking", executable="tracker_node", name="tracker_node",
        output="screen", parameters=tracker_parameters,
        remappings=[("rgb/image", LaunchConfiguration("rgb_topic")),
                    ("thermal/image", aligned_topic)],
        condition=IfCondition(LaunchConfiguration("use_alignment")),
    )
    alignment = Node(
        package="rgbt_tracking", executable="alignment_node", name="alignment_node",
        output="screen",
        parameters=[LaunchConfiguration("params_file"),
                    {"calibration_file": LaunchConfiguration("calibration_file")}],
        remappings=[("thermal/image_raw", LaunchConfiguration("thermal_topic")),
                    ("thermal/image", aligned_topic),
                    ("rgb/image", LaunchConfiguration("rgb_topic"))],
        condition=IfCondition(LaunchConfiguration("use_alignment")),
    )
    return LaunchDescription(arguments + [transport, alignment, tracker, tracker_on_aligned])
