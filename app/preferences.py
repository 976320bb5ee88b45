"""The Preferences dialog: model files, device, precision, job options, output folder."""
from __future__ import annotations

import dataclasses

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout,
                               QGroupBox, QSpinBox, QVBoxLayout, QWidget)

from xy_tokenizer.codecs.xy.constants import WINDOW_SECONDS

from .path_field import PathField
from .settings import DEVICES, DTYPES, MAX_BATCH_SIZE, Settings

CHECKPOINT_FILTER = "Checkpoints (*.ckpt *.pt *.pth *.bin *.safetensors);;All files (*)"
CONFIG_FILTER = "YAML configs (*.yaml *.yml);;All files (*)"

#: Settings whose change needs the model to be loaded again.
MODEL_FIELDS = ("checkpoint", "config", "device", "dtype")


class PreferencesDialog(QDialog):
    """Edits a copy of the settings; :meth:`values` returns it after ``accept``."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(560)
        self._settings = settings

        self.checkpoint = PathField("file", CHECKPOINT_FILTER,
                                    "default model in the user data folder")
        self.checkpoint.set_text(settings.checkpoint)
        self.config = PathField("file", CONFIG_FILTER, "optional: detected from the checkpoint")
        self.config.set_text(settings.config)
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(settings.device)
        self.device.setToolTip("auto picks CUDA, then Apple MPS, then the CPU")
        self.dtype = QComboBox()
        self.dtype.addItems(DTYPES)
        self.dtype.setCurrentText(settings.dtype)
        self.dtype.setToolTip("bfloat16/float16 are faster on GPUs; the CPU works best in float32")
        model_box = QGroupBox("Model")
        model_form = QFormLayout(model_box)
        model_form.addRow("Checkpoint:", self.checkpoint)
        model_form.addRow("Config (YAML):", self.config)
        model_form.addRow("Device:", self.device)
        model_form.addRow("Precision:", self.dtype)

        self.overlap = QDoubleSpinBox()
        self.overlap.setRange(0.0, WINDOW_SECONDS - 1.0)
        self.overlap.setSingleStep(1.0)
        self.overlap.setDecimals(1)
        self.overlap.setSuffix(" s")
        self.overlap.setValue(settings.overlap)
        self.overlap.setToolTip(f"Overlap between the {WINDOW_SECONDS} s windows of long files")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, MAX_BATCH_SIZE)
        self.batch_size.setValue(settings.batch_size)
        self.batch_size.setToolTip("Windows processed together; larger is faster on a GPU")
        self.output_dir = PathField("folder", placeholder="asked on export")
        self.output_dir.set_text(settings.output_dir)
        job_box = QGroupBox("Processing and export")
        job_form = QFormLayout(job_box)
        job_form.addRow("Window overlap:", self.overlap)
        job_form.addRow("Batch size:", self.batch_size)
        job_form.addRow("Output folder:", self.output_dir)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(job_box)
        layout.addStretch(1)
        layout.addWidget(buttons)

    def values(self) -> Settings:
        """A copy of the settings with the dialog's values."""
        return dataclasses.replace(
            self._settings,
            checkpoint=self.checkpoint.text(), config=self.config.text(),
            device=self.device.currentText(), dtype=self.dtype.currentText(),
            overlap=float(self.overlap.value()), batch_size=int(self.batch_size.value()),
            output_dir=self.output_dir.text(),
        )


def model_changed(before: Settings, after: Settings) -> bool:
    """True when the model must be loaded again to apply ``after``."""
    return any(getattr(before, name) != getattr(after, name) for name in MODEL_FIELDS)
