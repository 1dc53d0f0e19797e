"""Training: the teacher inpainting network and DensePose-RCNN, learned from exported DensePose-COCO.

Uses torch and torchvision and ``pipeline``; never Django.
"""
