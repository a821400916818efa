"""Entry points that run outside Django: batch jobs in a container or a plain Python process."""
