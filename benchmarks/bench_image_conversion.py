"""sensor_msgs/Image <-> numpy conversion times (rclpy messages), median of 30 runs.

    python benchmarks/bench_image_conversion.py
"""
import numpy as np

from rgbt_tracking.eval.speed import median_ms
from rgbt_tracking.ros.image_conversion import image_to_numpy, numpy_to_image, to_rgb


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    for width, height in ((640, 512), (1920, 1080)):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        msg = numpy_to_image(rgb, "rgb8")
        bgr_msg = numpy_to_image(rgb, "bgr8")
        print(f"{width}x{height}: numpy->Image {median_ms(lambda: numpy_to_image(rgb, 'rgb8')):.2f} ms, "
              f"Image->numpy {median_ms(lambda: image_to_numpy(msg)) * 1e3:.1f} us (view), "
              f"bgr8->RGB {median_ms(lambda: to_rgb(image_to_numpy(bgr_msg), 'bgr8')):.2f} ms")
