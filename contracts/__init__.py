"""The contract of Civitai's orchestration API for the videoGen step with the Kling engines."""
