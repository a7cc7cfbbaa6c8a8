function (doc) {
  var element = doc["WMCore.WorkQueue.DataStructs.WorkQueueElement.WorkQueueElement"];
  if (element) {
    emit([element.RequestName, element.Status], {"RequestName": element.RequestName, "Priority": element.Priority});
  }
}
