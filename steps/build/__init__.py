"""The build-image step: buildah builds the Dockerfile into the OCI archive /mnt/vol/app-image.tar."""
