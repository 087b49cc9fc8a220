# Shared fragment (docs/adding_a_family.md, "2. Its configs"): timm's RGB copy of the pycls RegNet
# weights (its first conv turned from BGR) takes RGB images under pycls's BGR normalisation in
# RGB order.
_pycls_rgb_data_preprocessor = dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True)
