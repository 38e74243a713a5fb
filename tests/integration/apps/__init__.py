"""Task modules that the test process and real ``dramatiq`` worker processes both import."""
