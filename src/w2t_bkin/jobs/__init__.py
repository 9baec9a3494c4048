"""The pose job daemon: folders of videos in, pose results out, never losing finished work."""
