"""On-screen text: text boxes read from pictures and from video frames, a caption that
stays on screen across frames merged into one box with its time span."""
