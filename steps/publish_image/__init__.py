"""The publish-image step: skopeo pushes the image archive and outputs image, image-url, image-digest."""
