"""DensePose-COCO: the format's conventions, masks, validation with reasons, and the uv_data result PNG."""
