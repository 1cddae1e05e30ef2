"""mfDiMP: DiMP with RGB and thermal fused at the pixel, feature or response level.

Zhang, Danelljan, Gonzalez-Garcia, van de Weijer, Khan, "Multi-Modal Fusion for End-to-End
RGB-T Tracking", ICCV Workshops 2019, on top of DiMP (Bhat et al., ICCV 2019).
"""
