"""ROS 2 nodes: thin rclpy shells around the ROS-free algorithms."""
