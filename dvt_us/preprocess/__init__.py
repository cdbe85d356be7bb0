"""Preprocess: decoded frames → tissue-region crops in the form the models and findings use.

Shared by serving and by ``training/`` so that both transform pixels identically.
"""

from dvt_us.preprocess.frames import Frame, ViewFrame, iter_frames, view_frame

__all__ = ["Frame", "ViewFrame", "iter_frames", "view_frame"]
