"""Movement analysis on arrays (pure): exact DTW, joint angles, repetition segmentation."""
