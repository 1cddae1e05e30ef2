"""ament_python set-up for rgbt_tracking (colcon on a robot, pip -e in a venv)."""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "rgbt_tracking"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*", "benchmarks", "build_fixtures*"]),
    package_data={"rgbt_tracking.data": ["splits/*.txt"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"share/{PACKAGE}/config/trackers", glob("config/trackers/*.yaml")),
        (f"share/{PACKAGE}/config/training", glob("config/training/*.yaml")),
    ],
    install_requires=["setuptools", "numpy", "pyyaml"],
    zip_safe=True,
    maintainer="rgbt_tracking maintainers",
    maintainer_email="maintainers@rgbt-tracking.invalid",
    description="RGB-T single-object tracking for ROS 2",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            "tracker_node = rgbt_tracking.ros.tracker_node:main",
            "alignment_node = rgbt_tracking.ros.alignment_node:main",
            "rgbt-track = rgbt_tracking.cli:main",
        ],
    },
)
