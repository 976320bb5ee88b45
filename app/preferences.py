"""The Preferences dialog: model files, device, precision, job options, output folder.

The encoder window overlap is checked as it is typed with the model's own rule (the loaded
codec's ``check_encode_options``, or with no model loaded the rules its family publishes in
the registry): a value the model refuses shows why and cannot be saved.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout,
                               QWidget)

from xy_tokenizer.errors import XYTokenizerError

from .path_field import PathField
from .settings import DEVICES, DTYPES, MAX_BATCH_SIZE, Settings, check_overlap

CHECKPOINT_FILTER = "Checkpoints (*.ckpt *.pt *.pth *.bin *.safetensors);;All files (*)"
CONFIG_FILTER = "YAML configs (*.yaml *.yml);;All files (*)"

#: Settings whose change needs the model to be loaded again.
MODEL_FIELDS = ("checkpoint", "config", "device", "dtype")
#: Largest overlap the field offers (seconds); the model's rule decides what it takes.
MAX_OVERLAP_SECONDS = 600.0
#: Overlap shown when "model default" is unticked with no value chosen before.
START_OVERLAP_SECONDS = 0.0
ERROR_STYLE = "color: palette(highlight);"


class PreferencesDialog(QDialog):
    """Edits a copy of the settings; :meth:`values` returns it after ``accept``."""

    def __init__(self, settings: Settings, parent: QWidget | None = None, *,
                 check_overlap: Callable[[float], None] | None = None):
        """``check_overlap(seconds)`` raises XYTokenizerError for a value the model refuses
        (default: the rules of ``settings.model_family``, no model needed)."""
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setMinimumWidth(560)
        self._settings = settings
        self._check_overlap = check_overlap or (lambda value: _family_check(settings, value))

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
        self.overlap.setObjectName("overlap")
        self.overlap.setRange(0.0, MAX_OVERLAP_SECONDS)
        self.overlap.setSingleStep(1.0)
        self.overlap.setDecimals(2)
        self.overlap.setSuffix(" s")
        self.overlap.setValue(START_OVERLAP_SECONDS if settings.overlap is None else settings.overlap)
        self.overlap.setToolTip("Overlap between the encoder windows of long files (models that window)")
        self.overlap_default = QCheckBox("model default")
        self.overlap_default.setToolTip("Use the overlap the model's authors chose")
        self.overlap_default.setChecked(settings.overlap is None)
        self.overlap.setEnabled(settings.overlap is not None)
        self.overlap_error = QLabel()
        self.overlap_error.setObjectName("overlapError")
        self.overlap_error.setWordWrap(True)
        self.overlap_error.setStyleSheet(ERROR_STYLE)
        self.overlap_error.setVisible(False)
        overlap_row = QHBoxLayout()
        overlap_row.setContentsMargins(0, 0, 0, 0)
        overlap_row.addWidget(self.overlap, 1)
        overlap_row.addWidget(self.overlap_default)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, MAX_BATCH_SIZE)
        self.batch_size.setValue(settings.batch_size)
        self.batch_size.setToolTip("Windows processed together; larger is faster on a GPU")
        self.output_dir = PathField("folder", placeholder="asked on export")
        self.output_dir.set_text(settings.output_dir)
        job_box = QGroupBox("Processing and export")
        job_form = QFormLayout(job_box)
        job_form.addRow("Window overlap:", overlap_row)
        job_form.addRow("", self.overlap_error)
        job_form.addRow("Batch size:", self.batch_size)
        job_form.addRow("Output folder:", self.output_dir)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.overlap_default.toggled.connect(self._on_default_toggled)
        self.overlap.valueChanged.connect(lambda _value: self._validate())
        layout = QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(job_box)
        layout.addStretch(1)
        layout.addWidget(buttons)
        self._validate()

    def overlap_value(self) -> float | None:
        """The chosen overlap in seconds; None: the model's default."""
        return None if self.overlap_default.isChecked() else float(self.overlap.value())

    def overlap_problem(self) -> str:
        """Why the model refuses the chosen overlap ("" when it takes it)."""
        value = self.overlap_value()
        if value is None:
            return ""
        try:
            self._check_overlap(value)
        except XYTokenizerError as exc:
            return str(exc)
        return ""

    def _on_default_toggled(self, on: bool) -> None:
        self.overlap.setEnabled(not on)
        self._validate()

    def _validate(self) -> bool:
        problem = self.overlap_problem()
        self.overlap_error.setText(problem)
        self.overlap_error.setVisible(bool(problem))
        self.ok_button.setEnabled(not problem)
        return not problem

    def accept(self) -> None:
        """Close with the values, unless the model refuses the overlap (then it says why)."""
        if self._validate():
            super().accept()
        else:
            self.overlap.setFocus()

    def values(self) -> Settings:
        """A copy of the settings with the dialog's values; XYTokenizerError when the model
        refuses the overlap (nothing refused is ever saved)."""
        problem = self.overlap_problem()
        if problem:
            raise XYTokenizerError(f"window overlap: {problem}")
        return dataclasses.replace(
            self._settings,
            checkpoint=self.checkpoint.text(), config=self.config.text(),
            device=self.device.currentText(), dtype=self.dtype.currentText(),
            overlap=self.overlap_value(), batch_size=int(self.batch_size.value()),
            output_dir=self.output_dir.text(),
        )


def model_changed(before: Settings, after: Settings) -> bool:
    """True when the model must be loaded again to apply ``after``."""
    return any(getattr(before, name) != getattr(after, name) for name in MODEL_FIELDS)


def _family_check(settings: Settings, value: float) -> None:
    check_overlap(value, family=settings.model_family)
