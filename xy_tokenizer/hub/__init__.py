"""Getting models: downloads of registry variants from the Hugging Face Hub (:mod:`.download`),
installs of files the user has (:mod:`.install`), and the install folders, their records and the
default model (:mod:`.records`, which documents the layout and the record format). Importing this
package imports neither torch nor ``huggingface_hub``.

For loaders: :func:`installed_semantic_model` finds the separately installed semantic encoder
(NeuCodec's ``facebook/w2v-bert-2.0``) when ``semantic_model`` was not given.
"""
from xy_tokenizer.hub.download import DEFAULT_VARIANT, DownloadError, LicenceNotAccepted, download_variant
from xy_tokenizer.hub.install import install_model
from xy_tokenizer.hub.records import (InstallError, Installed, install_folder, installed_checkpoint, installed_semantic_model,
                                      installed_variant, installs, licence_needs_acknowledgement,
                                      needs_semantic_model)

__all__ = ["DEFAULT_VARIANT", "DownloadError", "InstallError", "Installed", "LicenceNotAccepted", "download_variant",
           "install_folder", "install_model", "installed_checkpoint", "installed_semantic_model", "installed_variant", "installs",
           "licence_needs_acknowledgement", "needs_semantic_model"]
